template = "templates/syntax.hcl"

pipeline "p" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
}
