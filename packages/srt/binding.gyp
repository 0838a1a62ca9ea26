{
  "targets": [
    {
      "target_name": "onair_srt",
      "sources": ["src/onair_srt.c"],
      "cflags": ["-std=c11", "-Wall", "-Wextra", "-O2", "<!@(pkg-config --cflags srt)"],
      "libraries": ["<!@(pkg-config --libs srt)", "-lpthread"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}
