package capsule;

/** Java stub of the capsule API class Path: lets microprograms compile under javac. On the JVM every method throws. */
public final class Path {
  private Path() {}

  /** index of the current hop in the PATH chunk. */
  public int hopIndex() {
    throw new UnsupportedOperationException("capsule.Path.hopIndex runs only on a Capsule engine");
  }

  /** number of hops in the PATH chunk. */
  public int hopCount() {
    throw new UnsupportedOperationException("capsule.Path.hopCount runs only on a Capsule engine");
  }

  /** engine id of hop i. */
  public int hop(int arg0) {
    throw new UnsupportedOperationException("capsule.Path.hop runs only on a Capsule engine");
  }

  /** flags byte of hop i. */
  public int hopFlags(int arg0) {
    throw new UnsupportedOperationException("capsule.Path.hopFlags runs only on a Capsule engine");
  }

  /** moves the current hop (the PATH chunk travels on with it). */
  public void setHopIndex(int arg0) {
    throw new UnsupportedOperationException("capsule.Path.setHopIndex runs only on a Capsule engine");
  }
}
