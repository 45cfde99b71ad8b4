pipeline "p" {
  source "test" {
    name = "s"
  }
  serializer "test" {
    name = "x"
  }
  sink "test" {
    name = "k"
  }
  objects { # ERROR: Empty objects block
    exclude = ["a.b"]
  }
  objects { # ERROR: Duplicate objects block
    table "a.c" {}
  }
}
