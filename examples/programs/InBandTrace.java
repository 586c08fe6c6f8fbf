import capsule.*;

/**
 * In-band telemetry: each engine appends (engine id, ingress link, hop limit) to a record in DATA,
 * which travels with the packet, sets the TRACE flag, and forwards on the computed path.
 */
class InBandTrace {
  static final int NO_ROUTE = 0x101;

  @Data static int count;
  @Data static short[] engines = new short[8];
  @Data static byte[] ingress = new byte[8];
  @Data static byte[] hopLimits = new byte[8];

  @Entry
  static void trace(Packet p, Path path, Engine e, Action a) {
    if (count < engines.length) {
      engines[count] = (short) e.id();
      ingress[count] = (byte) p.ingressLink();
      hopLimits[count] = (byte) p.hopLimit();
      count++;
    }
    a.trace();
    int hop = path.hopIndex() + 1;
    if (hop >= path.hopCount()) {
      a.deliver();
      return;
    }
    int next = path.hop(hop);
    for (int i = 0; i < e.linkCount(); i++) {
      if (e.linkNeighbor(i) == next && e.linkUp(i)) {
        path.setHopIndex(hop);
        a.forward(e.linkId(i));
        return;
      }
    }
    a.drop(NO_ROUTE);
  }
}
