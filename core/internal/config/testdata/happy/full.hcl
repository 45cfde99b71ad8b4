# A complete pipeline file: every block and expression form the loader supports.

variable "rmq" {
  default     = "127.0.0.1:9876"
  description = "RocketMQ name server"
}

variable "group" {
  default = "default-group"
}

variable "user" {
  default = "user-from-default"
}

variable "region" {
  default = "eu"
}

variable "db_password" {
  sensitive = true
}

pipeline "orders_to_mq" {
  description = format("Orders in %s", var.region)
  tags        = ["team-a", lower("PROD")]

  source "test" {
    plugin_path = "./bin/ferry-source-test"
    name        = var.user
    password    = var.db_password
    hosts       = split(",", env("FERRY_TEST_HOSTS", "a,b"))
    labels = {
      owner = "team-a"
      env   = env("FERRY_TEST_ENV")
      note  = file("note.txt")
    }
    timeout = "1m30s"
    buffer  = "64KiB"
    ratio   = 0.25
  }

  filter "expr" {
    drop_if = "op == 'delete'"
  }

  filter "test" {
    name           = "f"
    out_of_process = true
    buffer         = 4096
    mode           = "fast"
  }

  serializer "canal" {}

  sink "test" {
    name     = format("%s/%s", var.rmq, var.group)
    password = trimspace(file("secret.txt"))
    hosts    = concat([var.rmq], ["b:1"])
    enabled  = tobool("false")
    port     = "9876"
  }

  runtime {
    batch_size          = 256
    batch_timeout       = "20ms"
    max_in_flight_bytes = 134217728
  }

  checkpoint {
    dir = "state/cp"
  }
}
