{
  "variables": {
    "libsodium%": "<!(pkg-config --exists libsodium && echo 1 || echo 0)"
  },
  "targets": [{
    "target_name": "capsule_native",
    "sources": ["addon/addon.cc", "addon/tun-device.cc", "addon/tun-offload.cc", "addon/udp-socket.cc", "addon/payload-cipher.cc", "addon/vm-executor.cc", "addon/fast-path.cc", "addon/fast-path-program.cc", "addon/signature-verifier.cc"],
    "include_dirs": ["<!@(node -p \"require('node-addon-api').include\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
    "cflags_cc": ["-O2", "-std=c++17", "-Wall", "-Wextra"],
    "conditions": [
      ["libsodium==1", {
        "defines": ["CAPSULE_LIBSODIUM"],
        "cflags_cc": ["<!@(pkg-config --cflags libsodium)"],
        "libraries": ["<!@(pkg-config --libs libsodium)"]
      }]
    ]
  }]
}
