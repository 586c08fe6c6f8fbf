import capsule.*;

/**
 * Port filter: only one transport service passes (by default TCP 8080), everything else is
 * dropped with DENIED, a program drop the engine counts (capsule_engine_program_drops_total,
 * code 258). The protocol and ports are the sealed packet's, which the sending agent shows engines
 * in the TRANSPORT chunk and the receiving agent checks against what it opens (docs/security.md).
 * `toPort` is the client's entry (destination port = port), `fromPort` the server's (its answers:
 * source port = port). What passes follows the controller's PATH like PointToPoint, without CACHE:
 * every packet is checked (a host-to-host flow carries all of the two hosts' connections).
 * The template (or contract) sets `protocol` and `port` as variables.
 */
class PortFilter {
  static final int NO_ROUTE = 0x101;
  static final int DENIED = 0x102;

  @Data static int protocol = 6;
  @Data static int port = 8080;

  /** The link whose neighbor is engine `next` and which is up, or -1. */
  static int linkTo(Engine e, int next) {
    for (int i = 0; i < e.linkCount(); i++)
      if (e.linkNeighbor(i) == next && e.linkUp(i)) return e.linkId(i);
    return -1;
  }

  /** Follows the PATH: the next hop's link, or DELIVER at its end. */
  static void route(Path path, Engine e, Action a) {
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
  }

  @Entry
  static void toPort(Packet p, Path path, Engine e, Action a) {
    if (p.nextHeader() != protocol || p.dstPort() != port) a.drop(DENIED);
    else route(path, e, a);
  }

  @Entry
  static void fromPort(Packet p, Path path, Engine e, Action a) {
    if (p.nextHeader() != protocol || p.srcPort() != port) a.drop(DENIED);
    else route(path, e, a);
  }
}
