import capsule.*;

/**
 * Load balancing across the members of a role (links tagged with the role's tag — the
 * controller's role routes: on every engine, the links that lead toward a member), never back
 * over the link the packet came in on:
 * `byFlowHash` keeps each flow on one member (stable flow hash); `leastLoaded` gives a new flow
 * the member with the fewest flows, counted in contract-shared memory with an atomic add, and
 * remembers its choice in per-flow memory. `reply` is the members' entry: their answers to a
 * client (unicast, e.g. a TCP connection's replies) follow the controller's PATH like PointToPoint.
 */
class LoadBalancer {
  static final int NO_MEMBER = 0x103;
  static final int NO_ROUTE = 0x101;

  @Data static int roleTag = 3;
  @Shared static int[] flows = new int[16];
  @Flow static int chosen;

  @Entry
  static void byFlowHash(Packet p, Engine e, Action a) {
    int[] found = new int[8];
    int[] members = new int[8];
    int m = Services.lookupTag(roleTag, found);
    int n = 0;
    for (int i = 0; i < m; i++)
      if (found[i] != p.ingressLink()) members[n++] = found[i];
    if (n == 0) {
      a.drop(NO_MEMBER);
      return;
    }
    int h = Services.flowHash(0) & 0x7FFFFFFF;
    a.forward(members[h % n]);
    a.cache();
  }

  @Entry
  static void leastLoaded(Packet p, Engine e, Action a) {
    if (chosen != 0) {
      a.forward(chosen - 1);
      return;
    }
    int best = -1;
    int bestLoad = Integer.MAX_VALUE;
    for (int i = 0; i < e.linkCount() && i < flows.length; i++) {
      if (e.linkUp(i) && (e.linkTags(i) & (1 << roleTag)) != 0 && e.linkId(i) != p.ingressLink() && flows[i] < bestLoad) {
        best = i;
        bestLoad = flows[i];
      }
    }
    if (best < 0) {
      a.drop(NO_MEMBER);
      return;
    }
    Services.fetchAdd(flows, best, 1);
    chosen = e.linkId(best) + 1;
    a.forward(e.linkId(best));
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
