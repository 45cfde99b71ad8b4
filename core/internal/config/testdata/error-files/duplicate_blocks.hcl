pipeline "p" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
  runtime {
    writers = 2
  }
  runtime { # ERROR: Duplicate runtime block
    writers = 3
  }
  sink "test" { # ERROR: A pipeline has at most one sink block; the first one is on line 4.
    name = "snk2"
  }
  checkpoint {}
  checkpoint {} # ERROR: Duplicate checkpoint block
}
