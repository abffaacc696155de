import LabCore
import Testing

/// The throttling rule shared by the simulator and the live client (`clients: { timerAlignment: … }`).
@Suite struct TimerThrottleTests {
    @Test("a throttled timer runs at the next multiple of the alignment, or when the window ends")
    func throttleRule() {
        let throttle = TimerThrottle(windows: [.init(range: TimeSpan.seconds(60)..<TimeSpan.seconds(200), alignment: .seconds(60))])
        #expect(throttle.deadline(.seconds(30)) == .seconds(30), "before the window: on time")
        #expect(throttle.deadline(.seconds(61)) == .seconds(120))
        #expect(throttle.deadline(.seconds(120)) == .seconds(120), "already aligned")
        #expect(throttle.deadline(.milliseconds(120_001)) == .seconds(180))
        #expect(throttle.deadline(.seconds(190)) == .seconds(200), "the tab is shown again at 200 s")
        #expect(throttle.deadline(.seconds(250)) == .seconds(250), "after the window: on time")
        #expect(TimerThrottle().deadline(.seconds(61)) == .seconds(61))
    }
}
