template = [
  "templates/does-not-exist.hcl", # ERROR: Template "templates/does-not-exist.hcl" does not exist
  "", # ERROR: Empty template path
  "template_paths.hcl", # ERROR: Pipeline file used as its own template
  "templates/empty.hcl",
  "./templates/../templates/empty.hcl", # ERROR: is already listed (line 5, column 3)
  {}, # ERROR: element 5 must be a path string
  env("FERRY_TEST_NAME"), # ERROR: Template "from-env" does not exist (looked for testdata/error-files/from-env;
]

pipeline "p" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
}
