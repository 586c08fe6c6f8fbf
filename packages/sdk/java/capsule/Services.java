package capsule;

/** Java stub of the capsule API class Services: lets microprograms compile under javac. On the JVM every method throws. */
public final class Services {
  private Services() {}

  /** stable hash of the flow mixed with a seed (ECALL FLOW_HASH). */
  public static int flowHash(int arg0) {
    throw new UnsupportedOperationException("capsule.Services.flowHash runs only on a Capsule engine");
  }

  /** engine time in milliseconds, low 32 bits (ECALL TIME). */
  public static int time() {
    throw new UnsupportedOperationException("capsule.Services.time runs only on a Capsule engine");
  }

  /** a random int (ECALL RANDOM). */
  public static int random() {
    throw new UnsupportedOperationException("capsule.Services.random runs only on a Capsule engine");
  }

  /** log an int to the trace and the engine log, rate-limited (ECALL LOG). */
  public static void log(int arg0) {
    throw new UnsupportedOperationException("capsule.Services.log runs only on a Capsule engine");
  }

  /** send a copy now with the current action set (ECALL EMIT); 0 when sent. */
  public static int emit() {
    throw new UnsupportedOperationException("capsule.Services.emit runs only on a Capsule engine");
  }

  /** fill the array with ids of up links carrying tag (0..31); returns how many (ECALL LOOKUP_TAG). */
  public static int lookupTag(int arg0, int[] arg1) {
    throw new UnsupportedOperationException("capsule.Services.lookupTag runs only on a Capsule engine");
  }

  /** atomic add to element i of a @Shared int[] (AMOADD.W); returns the old value. */
  public static int fetchAdd(int[] arg0, int arg1, int arg2) {
    throw new UnsupportedOperationException("capsule.Services.fetchAdd runs only on a Capsule engine");
  }
}
