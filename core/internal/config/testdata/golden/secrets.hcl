variable "db_password" {
  default   = "hunter2"
  sensitive = true
}

pipeline "orders_to_mq" {
  source "test" {
    name     = "orders"
    password = ["hunter2"]
    port     = var.db_password
  }
  serializer "canal" {}
  sink "test" { password = "hunter2" }
}
