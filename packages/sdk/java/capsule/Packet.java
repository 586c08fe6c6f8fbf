package capsule;

/** Java stub of the capsule API class Packet: lets microprograms compile under javac. On the JVM every method throws. */
public final class Packet {
  private Packet() {}

  /** word i (0..3) of the IPv6 source address, in network byte order. */
  public int srcAddress(int arg0) {
    throw new UnsupportedOperationException("capsule.Packet.srcAddress runs only on a Capsule engine");
  }

  /** word i (0..3) of the IPv6 destination address, in network byte order. */
  public int dstAddress(int arg0) {
    throw new UnsupportedOperationException("capsule.Packet.dstAddress runs only on a Capsule engine");
  }

  /** the 20-bit flow label. */
  public int flowLabel() {
    throw new UnsupportedOperationException("capsule.Packet.flowLabel runs only on a Capsule engine");
  }

  /** the hop limit. */
  public int hopLimit() {
    throw new UnsupportedOperationException("capsule.Packet.hopLimit runs only on a Capsule engine");
  }

  /** the whole IPv6 packet length in bytes. */
  public int packetLength() {
    throw new UnsupportedOperationException("capsule.Packet.packetLength runs only on a Capsule engine");
  }

  /** the upper-layer payload length in bytes. */
  public int payloadLength() {
    throw new UnsupportedOperationException("capsule.Packet.payloadLength runs only on a Capsule engine");
  }

  /** the upper-layer protocol (6 TCP, 17 UDP, 58 ICMPv6). */
  public int nextHeader() {
    throw new UnsupportedOperationException("capsule.Packet.nextHeader runs only on a Capsule engine");
  }

  /** the capsule packet type (1, 2, 3). */
  public int packetType() {
    throw new UnsupportedOperationException("capsule.Packet.packetType runs only on a Capsule engine");
  }

  /** the id of the link the packet arrived on. */
  public int ingressLink() {
    throw new UnsupportedOperationException("capsule.Packet.ingressLink runs only on a Capsule engine");
  }

  /** the transport source port, or 0. */
  public int srcPort() {
    throw new UnsupportedOperationException("capsule.Packet.srcPort runs only on a Capsule engine");
  }

  /** the transport destination port, or 0. */
  public int dstPort() {
    throw new UnsupportedOperationException("capsule.Packet.dstPort runs only on a Capsule engine");
  }

  /** arrival time, milliseconds since the Unix epoch (low 32 bits). */
  public int time() {
    throw new UnsupportedOperationException("capsule.Packet.time runs only on a Capsule engine");
  }
}
