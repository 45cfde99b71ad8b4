variable "region" {
  default = "eu"
}

defaults {
  runtime {
    batch_size          = 0 # ERROR: "batch_size" must be at least 1; got 0
    max_in_flight_bytes = "256MiB" # ERROR: Set either runtime.max_in_flight_bytes or the memory in the resources block, not both: resources.full_memory is set on line 17, and resources.preset "medium" on line 16 sets incremental_memory = "256MiB"
  }
  checkpoint {
    interval = "soon" # ERROR: Invalid duration
  }
  resources {
    # The pipeline's runtime.writers wins over this preset's write concurrency (another
    # file); runtime.max_in_flight_bytes above is in the same file: a conflict.
    preset      = "medium"
    full_memory = "1GiB"
  }
  sink "test" {
    ratoi   = 0.5 # ERROR: Did you mean "ratio"?
    mode    = "fsat" # ERROR: Did you mean "fast"?
    timeout = var.regoin # ERROR: There is no variable named "regoin". Did you mean "region"?
    port    = "not used: the pipeline sets port"
  }
}
