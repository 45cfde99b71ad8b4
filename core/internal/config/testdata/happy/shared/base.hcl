# Settings shared by every pipeline of the team (the first template: the others win over it).

variable "rmq" {
  default     = "127.0.0.1:9876"
  description = "RocketMQ name server"
}

variable "mq_password" {
  default   = "base-secret"
  sensitive = true
}

defaults {
  runtime {
    batch_size    = 1024
    drain_timeout = "10s"
  }

  checkpoint {
    dir = "state" # relative to this template's directory
  }

  limits {
    full {
      rows_per_second = 1000
    }
    incremental {
      rows_per_second = 5000
    }
  }

  resources {
    preset = "small"
  }

  source "test" {
    plugin_path = "./bin/ferry-source-test"
    name        = "from-base"
    port        = 3306
    labels      = { note = trimspace(file("note.txt")) }
  }

  sink "test" {
    name     = "base-sink"
    hosts    = [var.rmq]
    password = var.mq_password
    timeout  = "3s"
  }

  sink "other" {
    name = "not used: the pipeline's sink is called test"
  }
}
