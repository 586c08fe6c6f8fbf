// The TUN device's batch write (tun-device.cc's writePackets), shared with the agent's ingress fast
// path (fast-path.cc), which writes the packets it opened without JavaScript.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace capsule_native {

// Writes `count` packets to the TUN `fd`, packet i = data[entries[2i], + entries[2i+1]) (entries
// outside data[0, length) are counted failed, EINVAL). With vnetHeader each write starts with a
// virtio header and consecutive TCP segments of one connection go as one coalesced super-packet
// (PlanCoalescedWrite, tun-offload.h; it rewrites the head packet's headers in data), counted in
// stats[4] (coalesced writes) and stats[5] (their segments). Returns how many packets were not
// written; *lastError gets the errno of the last failure (0 when none).
int WriteTunPackets(int fd, uint8_t* data, size_t length, int32_t* entries, size_t count, bool vnetHeader,
                    double* stats, int* lastError);

}  // namespace capsule_native
