variable "mq_token" {
  default   = "hunter2"
  sensitive = true
}

defaults {
  runtime {
    batch_size = 0
    writers    = 300
  }
  resources {
    preset = "larg"
  }
  sink "test" {
    name     = "snk"
    timeout  = "5 seconds"
    password = [var.mq_token]
    hosts    = "one"
  }
}
