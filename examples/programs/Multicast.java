import capsule.*;

/** Multicast to a role: replicate the packet on every up link carrying the role's tag. */
class Multicast {
  static final int NO_MEMBER = 0x103;

  @Data static int roleTag = 5;

  @Entry
  static void replicate(Packet p, Engine e, Action a) {
    int[] members = new int[16];
    int n = Services.lookupTag(roleTag, members);
    for (int i = 0; i < n; i++)
      if (members[i] != p.ingressLink()) a.replicate(members[i]);
    if (a.linkCount() == 0) a.drop(NO_MEMBER);
  }
}
