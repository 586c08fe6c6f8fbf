import capsule.*;

/**
 * Service chaining through a waypoint role: until a waypoint engine has seen the packet, send it
 * toward the waypoint (links tagged WAYPOINT); the waypoint marks the packet (in DATA, which
 * travels) and from then on it goes toward the destination role.
 */
class ServiceChain {
  static final int WAYPOINT = 1;
  static final int DESTINATION = 2;
  static final int NO_ROUTE = 0x101;

  @Data static boolean visited;

  static int firstLinkWith(Engine e, int tag) {
    for (int i = 0; i < e.linkCount(); i++)
      if (e.linkUp(i) && (e.linkTags(i) & (1 << tag)) != 0) return e.linkId(i);
    return -1;
  }

  @Entry
  static void chain(Packet p, Engine e, Action a) {
    if (!visited && (e.tags() & (1 << WAYPOINT)) != 0) visited = true;
    int link = firstLinkWith(e, visited ? DESTINATION : WAYPOINT);
    if (link < 0) a.drop(NO_ROUTE);
    else a.forward(link);
  }
}
