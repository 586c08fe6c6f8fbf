import capsule.*;

/** Point-to-point on the controller-computed path: follow the PATH chunk hop by hop. */
class PointToPoint {
  static final int NO_ROUTE = 0x101;

  /** The link whose neighbor is engine `next` and which is up, or -1. */
  static int linkTo(Engine e, int next) {
    for (int i = 0; i < e.linkCount(); i++)
      if (e.linkNeighbor(i) == next && e.linkUp(i)) return e.linkId(i);
    return -1;
  }

  @Entry
  static void route(Packet p, Path path, Engine e, Action a) {
    int hop = path.hopIndex() + 1;
    if (hop >= path.hopCount()) {
      a.deliver();
      return;
    }
    int link = linkTo(e, path.hop(hop));
    if (link < 0) {
      a.drop(NO_ROUTE);
      return;
    }
    path.setHopIndex(hop);
    a.forward(link);
    a.cache();
  }
}
