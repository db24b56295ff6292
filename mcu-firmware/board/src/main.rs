//! The UNO Q's STM32U585 firmware: glue between the board and the display engine, nothing more.
//!
//! - LPUART1 on PG7/PG8 (115200 8N1, circular DMA reception) feeds the engine's link state machine; its answers
//!   go back on the same UART (hardware.md §2).
//! - Every 10 ms the display task asks the engine what to show, builds the scan plan and hands it to the
//!   TIM16 interrupt, which replays it at the highest priority (hardware.md §3.3); it also drives LED3 (TIM5
//!   PWM, active-low) and LED4 (GPIO, active-low, on/off only: hardware.md §4) and pets the watchdog.
//! - Why the MCU last started (RCC_CSR, or a panic recorded in memory that survives the reset) is reported in
//!   the next hello.
#![no_std]
#![no_main]

mod persist;
mod scan_isr;

use core::cell::RefCell;

use display_engine::gamma::GammaTable;
use display_engine::scan::ScanPlan;
use display_engine::{Link, LinkConfig};
use embassy_executor::Spawner;
use embassy_stm32::gpio::{Level, Output, OutputType, Pull, Speed};
use embassy_stm32::interrupt::{InterruptExt, Priority};
use embassy_stm32::mode::Async;
use embassy_stm32::time::khz;
use embassy_stm32::timer::Channel;
use embassy_stm32::timer::low_level::{CountingMode, OutputPolarity};
use embassy_stm32::timer::simple_pwm::{PwmPin, SimplePwm};
use embassy_stm32::usart::{self, RingBufferedUartRx, Uart, UartTx};
use embassy_stm32::wdg::IndependentWatchdog;
use embassy_stm32::{Config, bind_interrupts, dma, interrupt, pac, peripherals};
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_time::{Instant, Ticker};
use proto::frame::{self, FROM_MCU_MAX_FRAME};
use proto::{FromMcu, Rgb};
use static_cell::StaticCell;

bind_interrupts!(struct Irqs {
    LPUART1 => usart::InterruptHandler<peripherals::LPUART1>;
    GPDMA1_CHANNEL0 => dma::InterruptHandler<peripherals::GPDMA1_CH0>;
    GPDMA1_CHANNEL1 => dma::InterruptHandler<peripherals::GPDMA1_CH1>;
});

/// The engine's link state, shared by the UART task (which feeds it) and the display task (which asks it
/// what to show). Held only for a few microseconds at a time.
type SharedLink = Mutex<CriticalSectionRawMutex, RefCell<Link>>;

static LINK: StaticCell<SharedLink> = StaticCell::new();
static RX_DMA: StaticCell<[u8; 512]> = StaticCell::new();

/// How often the display is recomputed: the ticker steps every 50 ms, so 10 ms keeps it smooth.
const DISPLAY_PERIOD_MS: u64 = 10;
/// The watchdog fires when the display task has not run for this long (it pets every 10 ms).
const WATCHDOG_US: u32 = 2_000_000;

fn now_ms() -> u32 {
    Instant::now().as_millis() as u32
}

/// 160 MHz from MSIS 4 MHz through PLL1 (×80 /2), as Arduino's Zephyr does; LSE trims MSIS (hardware.md §6.4).
fn clocks() -> Config {
    use embassy_stm32::rcc::{
        LseConfig, LseDrive, LseMode, MSIRange, MsiAutoCalibration, Pll, PllDiv, PllMul, PllPreDiv, PllSource, Sysclk,
        VoltageScale,
    };
    let mut config = Config::default();
    config.rcc.msis = Some(MSIRange::RANGE_4MHZ);
    config.rcc.pll1 = Some(Pll {
        source: PllSource::MSIS,
        prediv: PllPreDiv::DIV1,
        mul: PllMul::MUL80,
        divp: None,
        divq: Some(PllDiv::DIV2),
        divr: Some(PllDiv::DIV2),
    });
    config.rcc.sys = Sysclk::PLL1_R;
    config.rcc.voltage_range = VoltageScale::RANGE1;
    config.rcc.ls.lse = Some(LseConfig {
        frequency: embassy_stm32::time::Hertz(32_768),
        mode: LseMode::Oscillator(LseDrive::MediumHigh),
        peripherals_clocked: true,
    });
    config.rcc.auto_calibration = MsiAutoCalibration::MSIS;
    // Port G (LPUART1) is powered from VDDIO2, which is off until this is set (hardware.md §2.3).
    config.enable_independent_io_supply = true;
    // Only the matrix scan runs at P0 (hardware.md §3.3).
    config.gpdma_interrupt_priority = Priority::P2;
    config
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_stm32::init(clocks());
    // Flash runs with 4 wait states at 160 MHz; the instruction cache hides them (embassy leaves it off).
    pac::ICACHE.cr().modify(|w| w.set_en(true));
    interrupt::LPUART1.set_priority(Priority::P2);
    interrupt::TIM15.set_priority(Priority::P3);

    let (reset, resets) = persist::boot();
    let link = LINK.init(Mutex::new(RefCell::new(Link::new(LinkConfig::uno_q(reset, resets), now_ms()))));

    let mut uart_config = usart::Config::default();
    uart_config.baudrate = 115_200;
    // A floating Linux TX while Linux boots would otherwise read as garbage (hardware.md §2.2).
    uart_config.rx_pull = Pull::Up;
    let uart = Uart::new(p.LPUART1, p.PG8, p.PG7, p.GPDMA1_CH0, p.GPDMA1_CH1, Irqs, uart_config)
        .expect("LPUART1 at 115200 8N1");
    let (tx, rx) = uart.split();
    let rx = rx.into_ring_buffered(RX_DMA.init([0; 512]));

    let mut led3 = SimplePwm::new(
        p.TIM5,
        Some(PwmPin::new(p.PH10, OutputType::PushPull)),
        Some(PwmPin::new(p.PH11, OutputType::PushPull)),
        Some(PwmPin::new(p.PH12, OutputType::PushPull)),
        None,
        khz(1),
        CountingMode::EdgeAlignedUp,
    );
    // Active-low: with inverted polarity, duty = brightness.
    for channel in [Channel::Ch1, Channel::Ch2, Channel::Ch3] {
        let mut channel = led3.channel(channel);
        channel.set_polarity(OutputPolarity::ActiveLow);
        channel.set_duty_cycle_fully_off();
        channel.enable();
    }
    // LED4: active-low, so "high" is off.
    let led4 = [
        Output::new(p.PH13, Level::High, Speed::Low),
        Output::new(p.PH14, Level::High, Speed::Low),
        Output::new(p.PH15, Level::High, Speed::Low),
    ];

    scan_isr::start();
    let mut watchdog = IndependentWatchdog::new(p.IWDG, WATCHDOG_US);
    watchdog.unleash();

    spawner.spawn(serial(rx, tx, link).expect("one serial task"));
    display(link, led3, led4, watchdog).await;
}

/// Feed received bytes to the engine and send its answers; hello first, so the daemon learns of the reset.
#[embassy_executor::task]
async fn serial(mut rx: RingBufferedUartRx<'static>, mut tx: UartTx<'static, Async>, link: &'static SharedLink) {
    let hello = link.lock(|l| l.borrow().hello(None));
    send(&mut tx, &hello).await;
    let mut buf = [0u8; 256];
    loop {
        let n = match rx.read(&mut buf).await {
            Ok(n) => n,
            // An overrun or a framing error: the bytes are lost; the link's CRC and retransmission cover it.
            Err(_) => continue,
        };
        let mut answers = heapless::Vec::<FromMcu, 8>::new();
        link.lock(|l| l.borrow_mut().receive(&buf[..n], now_ms(), |a| drop(answers.push(a.clone()))));
        for answer in &answers {
            send(&mut tx, answer).await;
        }
    }
}

async fn send(tx: &mut UartTx<'static, Async>, msg: &FromMcu) {
    let mut buf = [0u8; FROM_MCU_MAX_FRAME];
    if let Ok(bytes) = frame::encode(msg, &mut buf) {
        let _ = tx.write(bytes).await;
    }
}

/// What the engine says to show, every 10 ms: the matrix to the scan interrupt, the colours to the LEDs.
async fn display(
    link: &'static SharedLink,
    mut led3: SimplePwm<'static, peripherals::TIM5>,
    mut led4: [Output<'static>; 3],
    mut watchdog: IndependentWatchdog<'static, peripherals::IWDG>,
) -> ! {
    let gamma = GammaTable::uno_q();
    let mut ticker = Ticker::every(embassy_time::Duration::from_millis(DISPLAY_PERIOD_MS));
    loop {
        let shown = link.lock(|l| l.borrow().shown(now_ms()));
        // Refused only while the previous plan waits for the scan to wrap (≤ 8.3 ms): the next tick retries.
        scan_isr::BUFFERS.publish(|plan: &mut ScanPlan| plan.update(&shown.frame, &gamma));
        set_led3(&mut led3, shown.led3);
        for (pin, on) in led4.iter_mut().zip([shown.led4.r, shown.led4.g, shown.led4.b]) {
            pin.set_level(if on >= 128 { Level::Low } else { Level::High });
        }
        watchdog.pet();
        ticker.next().await;
    }
}

fn set_led3(pwm: &mut SimplePwm<'static, peripherals::TIM5>, colour: Rgb) {
    pwm.ch1().set_duty_cycle_fraction(colour.r as u32, 255);
    pwm.ch2().set_duty_cycle_fraction(colour.g as u32, 255);
    pwm.ch3().set_duty_cycle_fraction(colour.b as u32, 255);
}
