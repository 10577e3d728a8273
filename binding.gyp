{
  # The addon, and 004's three C programs as executables (build/Release/programs/, shipped in the prebuilds).
  "targets": [
    {
      "target_name": "overcommit_lab",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/mapping.cc",
        "native/rlimit.cc",
        "native/probe.cc",
        "native/child.cc",
        "native/files.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    },
    {
      "target_name": "ocl-settings",
      "type": "executable",
      "product_dir": "<(PRODUCT_DIR)/programs",
      "sources": ["native/programs/settings.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-result"],
      "ldflags": ["-s"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    },
    {
      "target_name": "ocl-sparse",
      "type": "executable",
      "product_dir": "<(PRODUCT_DIR)/programs",
      "sources": ["native/programs/sparse.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-result"],
      "ldflags": ["-s"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    },
    {
      "target_name": "ocl-rlimit",
      "type": "executable",
      "product_dir": "<(PRODUCT_DIR)/programs",
      "sources": ["native/programs/rlimit.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-result"],
      "ldflags": ["-s"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    },
    {
      "target_name": "ocl-ptrace",
      "type": "executable",
      "product_dir": "<(PRODUCT_DIR)/programs",
      "sources": ["native/programs/ptrace.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-result"],
      "ldflags": ["-s"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    },
    {
      "target_name": "ocl-malloc",
      "type": "executable",
      "product_dir": "<(PRODUCT_DIR)/programs",
      "sources": ["native/programs/malloc.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-result"],
      "ldflags": ["-s"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    },
    {
      "target_name": "ocl-exec",
      "type": "executable",
      "product_dir": "<(PRODUCT_DIR)/programs",
      "sources": ["native/programs/exec.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-result"],
      "ldflags": ["-s"],
      "conditions": [
        ["OS!='linux'", { "type": "none" }]
      ]
    }
  ]
}
