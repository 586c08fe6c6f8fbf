import capsule.*;

/**
 * Cost/label-based path choice with failover: prefer the cheapest up link carrying the label;
 * when none is up, fail over to the cheapest up link of any label; else drop.
 */
class PathChoice {
  static final int NO_ROUTE = 0x101;

  @Data static int label = 4;

  @Entry
  static void choose(Packet p, Engine e, Action a) {
    int best = -1;
    int bestCost = Integer.MAX_VALUE;
    int backup = -1;
    int backupCost = Integer.MAX_VALUE;
    for (int i = 0; i < e.linkCount(); i++) {
      if (!e.linkUp(i) || e.linkId(i) == p.ingressLink()) continue;
      int cost = e.linkCost(i);
      if ((e.linkTags(i) & (1 << label)) != 0) {
        if (cost < bestCost) {
          best = i;
          bestCost = cost;
        }
      } else if (cost < backupCost) {
        backup = i;
        backupCost = cost;
      }
    }
    int pick = best >= 0 ? best : backup;
    if (pick < 0) a.drop(NO_ROUTE);
    else a.forward(e.linkId(pick));
  }
}
