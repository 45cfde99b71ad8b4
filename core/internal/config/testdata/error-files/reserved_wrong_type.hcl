pipeline "p" {
  source "test" {
    name           = "src"
    out_of_process = "yes" # ERROR: Inappropriate value for attribute "out_of_process": a bool is required
  }
  serializer "canal" {
    plugin_path = ["./bin/x"] # ERROR: Inappropriate value for attribute "plugin_path"
  }
  sink "test" {
    name        = "snk"
    plugin_path = "" # ERROR: Empty plugin_path
  }
}
