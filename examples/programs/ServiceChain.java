import capsule.*;

/**
 * Service chaining through a waypoint engine (one whose engine tags have bit WAYPOINT: the
 * template's labelTags name a controller label, e.g. `waypoint`, for it): until a waypoint has
 * handled the packet (`visited`, in DATA, so it travels with the packet), go toward the waypoint
 * over an up link tagged WAYPOINT (never back where it came from); from then on go to the
 * destination's engine (the last hop of the controller's PATH): directly when linked to it, else
 * over a link tagged DESTINATION. The destination's engine delivers. Every engine appends itself
 * to the TRACE, so the receiver can see the waypoint on the way.
 */
class ServiceChain {
  static final int WAYPOINT = 1;
  static final int DESTINATION = 2;
  static final int NO_ROUTE = 0x101;

  @Data static boolean visited;

  /** The up link to engine `id`, or -1. */
  static int linkTo(Engine e, int id) {
    for (int i = 0; i < e.linkCount(); i++)
      if (e.linkNeighbor(i) == id && e.linkUp(i)) return e.linkId(i);
    return -1;
  }

  /** The first up link carrying `tag` that is not the one the packet came in on, or -1. */
  static int linkWith(Engine e, int tag, int ingress) {
    for (int i = 0; i < e.linkCount(); i++)
      if (e.linkUp(i) && (e.linkTags(i) & (1 << tag)) != 0 && e.linkId(i) != ingress) return e.linkId(i);
    return -1;
  }

  @Entry
  static void chain(Packet p, Path path, Engine e, Action a) {
    a.trace();
    if (!visited && (e.tags() & (1 << WAYPOINT)) != 0) visited = true;
    int destination = path.hop(path.hopCount() - 1);
    if (visited && e.id() == destination) {
      a.deliver();
      return;
    }
    int link = visited ? linkTo(e, destination) : linkWith(e, WAYPOINT, p.ingressLink());
    if (link < 0 && visited) link = linkWith(e, DESTINATION, p.ingressLink());
    if (link < 0) a.drop(NO_ROUTE);
    else a.forward(link);
  }
}
