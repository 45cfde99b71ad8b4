pipeline "p" {
  source "test" {
    name     = env("FERRY_TEST_NAME")
    password = env("FERRY_TEST_UNSET_PASSWORD") # ERROR: environment variable "FERRY_TEST_UNSET_PASSWORD" is not set
    hosts    = [env("FERRY_TEST_UNSET_HOST", "localhost")]
  }
  serializer "canal" {}
  sink "test" {
    name = upper(env("FERRY_TEST_UNSET_NAME")) # ERROR: Call to function "env" failed
  }
}
