import capsule.*;

/**
 * Content distribution: every packet a client sends to the role goes to the role's nearest member
 * by path cost. The controller marks, on every engine, the one link that is the first hop of the
 * cheapest path to the nearest member (the template role's `nearestTag`: docs/controller.md, "Role
 * routes"), so the program follows that bit, never back over the link the packet came in on. When
 * the nearest member leaves or its path fails, the controller moves the bit to the first hop toward
 * the next nearest: the next packet goes there. It runs for every packet (no CACHE), so a moved
 * bit takes effect at once. `reply` is the members' entry: their answers to a client (unicast,
 * e.g. a TCP connection's replies) follow the controller's PATH like PointToPoint.
 */
class Nearest {
  static final int NO_MEMBER = 0x103;
  static final int NO_ROUTE = 0x101;

  @Data static int nearestTag = 5;

  @Entry
  static void nearest(Packet p, Engine e, Action a) {
    for (int i = 0; i < e.linkCount(); i++) {
      if (e.linkUp(i) && (e.linkTags(i) & (1 << nearestTag)) != 0 && e.linkId(i) != p.ingressLink()) {
        a.forward(e.linkId(i));
        return;
      }
    }
    a.drop(NO_MEMBER);
  }

  @Entry
  static void reply(Packet p, Path path, Engine e, Action a) {
    int hop = path.hopIndex() + 1;
    if (hop >= path.hopCount()) {
      a.deliver();
      return;
    }
    int link = -1;
    for (int i = 0; i < e.linkCount(); i++)
      if (e.linkNeighbor(i) == path.hop(hop) && e.linkUp(i)) link = e.linkId(i);
    if (link < 0) {
      a.drop(NO_ROUTE);
      return;
    }
    path.setHopIndex(hop);
    a.forward(link);
    a.cache();
  }
}
