# Shared settings of the pipelines in configs/ (a parameter template): where the servers are,
# the producer group and tag, resources and checkpoints. A pipeline file names it with
#   template = "shared/testbed.hcl"
# and sets only what is its own; anything it sets wins over the values here. The defaults
# point at the local test bed (`make up`); for real servers set the variables:
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

defaults {
  source "oceanbase" {
    address            = var.db
    user               = var.user
    password           = var.password
    heartbeat_interval = "2s"
  }

  sink "rocketmq" {
    name_servers   = [var.name_server]
    producer_group = "OMS"
    tag            = "default_tag"
  }

  # 2 snapshot readers, 2 writers, 256MiB for the snapshot, 128MiB each for the log reader
  # and the incremental writer (docs/configuration.md#resources).
  resources {
    preset = "small"
  }

  checkpoint {
    dir      = "../../.ferry/checkpoints"
    interval = "500ms"
  }
}
