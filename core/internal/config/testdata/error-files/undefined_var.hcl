variable "rmq" {
  default = "127.0.0.1:9876"
}

pipeline "p" {
  description = var.rqm # ERROR: There is no variable named "rqm". Did you mean "rmq"?
  source "test" {
    name  = "src"
    hosts = [var.rmq, var.nothing_like_it] # ERROR: Reference to undeclared variable
  }
  serializer "canal" {}
  sink "test" {
    name = rmq # ERROR: Did you mean "var.rmq"?
  }
}
