pipeline "p" {
  source "test" { name = "src" }
  serializer "canal" {}
  sink "test" { name = "snk" }
  runtime {
    writers             = 8 # ERROR: Set either runtime.writers or the write concurrency in the resources block, not both: resources.full_write_concurrency is set on line 12, and resources.preset "large" on line 11 sets incremental_write_concurrency = 8.
    max_in_flight_bytes = "128MiB" # ERROR: resources.full_memory is set on line 13, and resources.preset "large" on line 11 sets incremental_memory = "512MiB"
    batch_size          = 100
  }
  resources {
    preset                 = "large"
    full_write_concurrency = 4
    full_memory            = "2GiB"
  }
}
