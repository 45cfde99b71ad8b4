pipeline "p" { # ERROR: Missing serializer block # ERROR: Missing sink block
  source "test" { name = "src" }
  filter "expr" {}
}
