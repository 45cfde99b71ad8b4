pipeline "a234567890123456789012345678901234567890123456789012345678901234x" { # ERROR: 1 to 64 letters
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
}
