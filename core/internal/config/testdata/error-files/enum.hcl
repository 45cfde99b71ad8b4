pipeline "p" {
  source "test" {
    name = "src"
    mode = "fsat" # ERROR: "fsat" is not one of the allowed values of "mode": "fast", "safe" or "paranoid". Did you mean "fast"?
  }
  serializer "canal" {}
  sink "test" {
    name = "snk"
    mode = "SAFE" # ERROR: Did you mean "safe"?
  }
  filter "test" {
    name = "f"
    mode = "reckless" # ERROR: Invalid value for "mode"
  }
}
