import capsule.*;

/**
 * Path choice with failover: the operator marks the preferred path by a label on its links (the
 * template's labelTags make it bit `label` of the links' tags). Each engine sends the packet on
 * the cheapest up link carrying the label (never back where it came from); when there is none —
 * the link is down — it goes straight to the destination's engine (the last hop of the
 * controller's PATH) if linked to it; when it cannot do that either, it sends the packet back to
 * the engine it came from (crankback), which then has a preferred link less to choose from. The
 * destination's engine delivers. The program runs for every packet (no CACHE), so each one is
 * traced and a link that went down is noticed at the next packet. Every engine appends itself to
 * the TRACE.
 */
class PathChoice {
  static final int NO_ROUTE = 0x101;

  @Data static int label = 4;

  @Entry
  static void choose(Packet p, Path path, Engine e, Action a) {
    a.trace();
    int destination = path.hop(path.hopCount() - 1);
    if (e.id() == destination) {
      a.deliver();
      return;
    }
    int best = -1;
    int bestCost = Integer.MAX_VALUE;
    int direct = -1;
    for (int i = 0; i < e.linkCount(); i++) {
      if (!e.linkUp(i) || e.linkId(i) == p.ingressLink()) continue;
      if ((e.linkTags(i) & (1 << label)) != 0 && e.linkCost(i) < bestCost) {
        best = e.linkId(i);
        bestCost = e.linkCost(i);
      }
      if (e.linkNeighbor(i) == destination) direct = e.linkId(i);
    }
    int link = best >= 0 ? best : direct;
    if (link < 0) {
      for (int i = 0; i < e.linkCount(); i++)
        if (e.linkId(i) == p.ingressLink() && e.linkUp(i) && e.linkKind(i) == 0) link = e.linkId(i);
    }
    if (link < 0) {
      a.drop(NO_ROUTE);
      return;
    }
    a.forward(link);
  }
}
