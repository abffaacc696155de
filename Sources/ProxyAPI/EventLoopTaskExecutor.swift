import NIOCore

/// A task executor that runs jobs on a NIO event loop, so a control request's Swift task (and the
/// default actor it calls into) runs on the server's own threads rather than Swift's cooperative
/// pool. The pool has one thread per core; work that holds it (a busy test process, CPU-heavy
/// analysis in the same program) must not delay answers to Toxiproxy clients.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `loop` is immutable and EventLoop is Sendable; the class only exists to have an
    // identity that `asUnownedTaskExecutor()` can point at.
    private let loop: any EventLoop

    /// An executor whose jobs run on `loop`.
    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
