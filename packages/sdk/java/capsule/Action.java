package capsule;

/** Java stub of the capsule API class Action: lets microprograms compile under javac. On the JVM every method throws. */
public final class Action {
  private Action() {}

  /** verdict FORWARD on link id. */
  public void forward(int arg0) {
    throw new UnsupportedOperationException("capsule.Action.forward runs only on a Capsule engine");
  }

  /** verdict REPLICATE, adding link id to the egress list. */
  public void replicate(int arg0) {
    throw new UnsupportedOperationException("capsule.Action.replicate runs only on a Capsule engine");
  }

  /** verdict DELIVER to the local host link. */
  public void deliver() {
    throw new UnsupportedOperationException("capsule.Action.deliver runs only on a Capsule engine");
  }

  /** verdict DROP with a reason code (by convention >= 0x100). */
  public void drop(int arg0) {
    throw new UnsupportedOperationException("capsule.Action.drop runs only on a Capsule engine");
  }

  /** set the CACHE flag: apply this action to the flow without running again. */
  public void cache() {
    throw new UnsupportedOperationException("capsule.Action.cache runs only on a Capsule engine");
  }

  /** set the TRACE flag: record this execution in the engine trace. */
  public void trace() {
    throw new UnsupportedOperationException("capsule.Action.trace runs only on a Capsule engine");
  }

  /** CODE offset the next engine starts at. */
  public void setNextEntry(int arg0) {
    throw new UnsupportedOperationException("capsule.Action.setNextEntry runs only on a Capsule engine");
  }

  /** number of links in the egress list so far. */
  public int linkCount() {
    throw new UnsupportedOperationException("capsule.Action.linkCount runs only on a Capsule engine");
  }
}
