package capsule;

/** Java stub of the capsule API class Engine: lets microprograms compile under javac. On the JVM every method throws. */
public final class Engine {
  private Engine() {}

  /** this engine id. */
  public int id() {
    throw new UnsupportedOperationException("capsule.Engine.id runs only on a Capsule engine");
  }

  /** the engine tag bits. */
  public int tags() {
    throw new UnsupportedOperationException("capsule.Engine.tags runs only on a Capsule engine");
  }

  /** number of links in the link table. */
  public int linkCount() {
    throw new UnsupportedOperationException("capsule.Engine.linkCount runs only on a Capsule engine");
  }

  /** id of link i (0-based index into the link table). */
  public int linkId(int arg0) {
    throw new UnsupportedOperationException("capsule.Engine.linkId runs only on a Capsule engine");
  }

  /** engine id of the neighbor behind link i (0 for a host). */
  public int linkNeighbor(int arg0) {
    throw new UnsupportedOperationException("capsule.Engine.linkNeighbor runs only on a Capsule engine");
  }

  /** kind of link i (0 engine, 1 host, 2 local). */
  public int linkKind(int arg0) {
    throw new UnsupportedOperationException("capsule.Engine.linkKind runs only on a Capsule engine");
  }

  /** cost of link i. */
  public int linkCost(int arg0) {
    throw new UnsupportedOperationException("capsule.Engine.linkCost runs only on a Capsule engine");
  }

  /** whether link i is up. */
  public boolean linkUp(int arg0) {
    throw new UnsupportedOperationException("capsule.Engine.linkUp runs only on a Capsule engine");
  }

  /** tag bits of link i. */
  public int linkTags(int arg0) {
    throw new UnsupportedOperationException("capsule.Engine.linkTags runs only on a Capsule engine");
  }
}
