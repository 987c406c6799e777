/** Runs a bench's main(); if a handle still holds the process after cleanup, says so and exits instead of hanging. */
export function runMain(main: () => Promise<void>) {
  main()
    .then(() => {
      setTimeout(() => {
        console.error('bench: something still holds the event loop after cleanup; exiting')
        process.exit(1)
      }, 5_000).unref()
    })
    .catch((err) => {
      console.error(err)
      process.exit(1)
    })
}
