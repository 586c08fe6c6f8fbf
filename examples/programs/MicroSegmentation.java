import capsule.*;

/**
 * Micro-segmentation: a role-to-role allow list. Role ids are the low 16 bits of the addresses
 * (the controller assigns role addresses); allowed pairs travel in DATA, so the contract's
 * template sets them. An allowed packet is forwarded on the link toward its destination role.
 */
class MicroSegmentation {
  static final int DENIED = 0x102;
  static final int NO_ROUTE = 0x101;

  @Data static int[] allowFrom = {1, 1, 2};
  @Data static int[] allowTo = {2, 3, 3};

  @Entry
  static void filter(Packet p, Engine e, Action a) {
    int from = p.srcAddress(3) & 0xFFFF;
    int to = p.dstAddress(3) & 0xFFFF;
    for (int i = 0; i < allowFrom.length; i++) {
      if (allowFrom[i] == from && allowTo[i] == to) {
        for (int k = 0; k < e.linkCount(); k++) {
          if (e.linkUp(k) && (e.linkTags(k) & (1 << (to & 31))) != 0) {
            a.forward(e.linkId(k));
            a.cache();
            return;
          }
        }
        a.drop(NO_ROUTE);
        return;
      }
    }
    a.drop(DENIED);
  }
}
