pipeline "p" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
  retry { # ERROR: Blocks of type "retry" are not expected here.
    attempts = 3
  }
  runtme { # ERROR: Did you mean "runtime"?
  }
  checkpoint {
    every = "1s" # ERROR: An argument named "every" is not expected here.
  }
}

pipelines "q" { # ERROR: Did you mean "pipeline"?
}
