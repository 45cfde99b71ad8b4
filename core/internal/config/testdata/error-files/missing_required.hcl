pipeline "p" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { # ERROR: The sink plugin "test" requires the argument "name"
    port = 8080
  }
  filter "test" { # ERROR: Missing required argument
    name = null
  }
}
