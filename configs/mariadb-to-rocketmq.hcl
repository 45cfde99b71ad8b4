# MariaDB/MySQL (or an OceanBase MySQL tenant) → RocketMQ, in Canal's flat-message format.
# Runs as written against the local test bed (`make up`); for real servers, set the variables:
#   bin/ferry run --var db=10.0.0.5:2883 --var user='sync@shop_tenant#prod' \
#                 --var name_server=10.0.0.7:9876 configs/mariadb-to-rocketmq.hcl
# with the password in FERRY_VAR_password.

variable "db" {
  default     = "127.0.0.1:13306"
  description = "MySQL-protocol address of the source (OBProxy or OBServer for OceanBase)"
}
variable "user" {
  default = "ferry"
}
variable "password" {
  default   = "ferry"
  sensitive = true
}
variable "name_server" {
  default     = "127.0.0.1:29876"
  description = "RocketMQ name server"
}
variable "tables" {
  default = ["ferry_demo.orders"]
}

pipeline "demo_orders" {
  description = "orders to RocketMQ: snapshot, then every change, in order per key"

  source "oceanbase" {
    address            = var.db
    user               = var.user
    password           = var.password
    tables             = var.tables
    mode               = "both"
    heartbeat_interval = "2s"
  }

  serializer "canal" {}

  sink "rocketmq" {
    name_servers   = [var.name_server]
    topic          = "demo_orders"
    producer_group = "OMS"
    tag            = "default_tag"
    partitioning   = "hash"
  }

  runtime {
    writers = 4
  }

  checkpoint {
    dir      = "../.ferry/checkpoints"
    interval = "500ms"
  }
}
