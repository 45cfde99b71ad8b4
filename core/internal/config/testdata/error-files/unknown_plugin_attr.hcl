pipeline "p" {
  source "test" {
    name = "src"
    prot = 80 # ERROR: An argument named "prot" is not expected here. Did you mean "port"?
    plugin_pth = "./x" # ERROR: Did you mean "plugin_path"?
    whatever = 1 # ERROR: An argument named "whatever" is not expected here.
    retry { # ERROR: Blocks of type "retry" are not expected here.
    }
  }
  serializer "canal" {}
  sink "test" { name = "snk" }
}
