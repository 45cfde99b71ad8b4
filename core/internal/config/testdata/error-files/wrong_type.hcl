pipeline "p" {
  description = ["not", "a", "string"] # ERROR: Inappropriate value for attribute "description"
  tags        = "team-a" # ERROR: Inappropriate value for attribute "tags"
  source "test" {
    name    = "src"
    port    = "eighty" # ERROR: Inappropriate value for attribute "port": a number is required
    enabled = "maybe" # ERROR: Inappropriate value for attribute "enabled"
    ratio   = { a = 1 } # ERROR: Inappropriate value for attribute "ratio"
    hosts   = "h1" # ERROR: Inappropriate value for attribute "hosts"
    labels  = ["a"] # ERROR: Inappropriate value for attribute "labels"
    buffer  = true # ERROR: a size (a number of bytes
  }
  serializer "canal" {}
  sink "test" { name = "snk" }
}
