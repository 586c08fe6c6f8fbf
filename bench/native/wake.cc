// The tools of `npm run bench -- wake` (bench/wake.bench.ts), built with g++ by bench/native-tools.ts:
//   wake echo PORT                 a UDP echo on 127.0.0.1:PORT (0: any), one thread blocked in
//                                  recvfrom; prints {"ready":1,"port":N} once bound
//   wake client PORT ROUNDS GAP_US one datagram of 84 bytes to 127.0.0.1:PORT and its echo, ROUNDS
//                                  times, GAP_US apart; prints one JSON line of the round trips in µs:
//                                  {"rounds", "answered", "mean", "p50", "p90"}
// A round that gets no echo within 1 s is not answered (and not counted in the figures).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "wake-echo.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

double NowUs() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec) * 1e6 + static_cast<double>(now.tv_nsec) / 1e3;
}

int Echo(int port) {
  const int fd = wake_echo::OpenSocket(port);
  if (fd < 0) {
    perror("wake echo: bind");
    return 1;
  }
  std::printf("{\"ready\":1,\"port\":%d}\n", wake_echo::BoundPort(fd));
  std::fflush(stdout);
  wake_echo::EchoBlocking(fd);
}

int Client(int port, int rounds, int gapUs) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  const sockaddr_in address = wake_echo::Loopback(port);
  if (fd < 0 || connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    perror("wake client: connect");
    return 1;
  }
  timeval timeout{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::vector<double> trips;
  trips.reserve(static_cast<size_t>(rounds));
  unsigned char buffer[2048] = {};
  for (int i = 0; i < rounds; i++) {
    std::memcpy(buffer, &i, sizeof i);
    const double start = NowUs();
    if (send(fd, buffer, 84, 0) == 84) {
      // The echo of this round (a late one of an earlier round is skipped).
      for (;;) {
        const ssize_t n = recv(fd, buffer + 100, 1000, 0);
        if (n < 0) break;
        int echoed = -1;
        std::memcpy(&echoed, buffer + 100, sizeof echoed);
        if (echoed == i) {
          trips.push_back(NowUs() - start);
          break;
        }
      }
    }
    if (gapUs > 0) usleep(static_cast<useconds_t>(gapUs));
  }
  if (trips.empty()) {
    std::printf("{\"rounds\":%d,\"answered\":0}\n", rounds);
    return 0;
  }
  double sum = 0;
  for (const double trip : trips) sum += trip;
  std::sort(trips.begin(), trips.end());
  const auto at = [&](double q) { return trips[std::min(trips.size() - 1, static_cast<size_t>(q * trips.size()))]; };
  std::printf("{\"rounds\":%d,\"answered\":%zu,\"mean\":%.2f,\"p50\":%.2f,\"p90\":%.2f}\n", rounds, trips.size(),
              sum / static_cast<double>(trips.size()), at(0.5), at(0.9));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "echo") == 0) return Echo(std::atoi(argv[2]));
  if (argc == 5 && std::strcmp(argv[1], "client") == 0)
    return Client(std::atoi(argv[2]), std::atoi(argv[3]), std::atoi(argv[4]));
  std::fprintf(stderr, "usage: wake echo PORT | wake client PORT ROUNDS GAP_US\n");
  return 2;
}
