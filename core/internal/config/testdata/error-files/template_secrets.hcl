template = "templates/secrets.hcl"

pipeline "p" {
  source "test" {
    name = "src"
  }
  serializer "canal" {}
  sink "test" {
    name     = "snk"
    password = "overrides the template's"
  }
  filter "test" {
    name = "f"
  }
}
