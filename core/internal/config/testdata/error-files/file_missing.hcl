pipeline "p" {
  source "test" {
    name     = "src"
    password = file("secrets/missing.txt") # ERROR: file "secrets/missing.txt" does not exist
  }
  serializer "canal" {}
  sink "test" {
    name = uper("x") # ERROR: There is no function named "uper". Did you mean "upper"?
  }
}
