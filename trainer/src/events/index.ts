export { EventFactory, type EventFactoryOptions, type EventOf, type EventPayload, type RunIdentity, type StampOptions } from "./factory";
export { EVENTS_FILE, JsonlEventLog } from "./jsonl";
export {
  connectNats,
  NatsEventPublisher,
  type EventLogger,
  type NatsConnector,
  type NatsCredentials,
  type NatsPublisherOptions,
  type PublisherReport,
  type PublisherStats,
  type StreamSetup,
} from "./nats-publisher";
export { createEventSink, type EventSink, type EventSinkOptions, type EventSinkReport, type EventSinkStats } from "./sink";
