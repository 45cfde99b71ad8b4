# MariaDB/MySQL (or an OceanBase MySQL tenant) → RocketMQ, in Canal's flat-message format.
# Runs as written against the local test bed (`make up`); the servers, credentials,
# resources and checkpoints come from the shared template (see it for real servers).

template = "shared/testbed.hcl"

variable "tables" {
  default = ["ferry_demo.orders"]
}

pipeline "demo_orders" {
  description = "orders to RocketMQ: snapshot, then every change, in order per key"
  tags        = ["demo"]

  source "oceanbase" {
    tables = var.tables
    mode   = "both"
  }

  serializer "canal" {}

  sink "rocketmq" {
    topic        = "demo_orders"
    partitioning = "hash"
  }

  # A ceiling that keeps the snapshot's load on the source modest.
  limits {
    full {
      rows_per_second = 25000
    }
  }
}
