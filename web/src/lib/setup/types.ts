// Shapes of the first-run setup API (/tmp/spot-setup-api.md) and the helper's network
// status (firmware/setup/src/proto.rs; serde snake_case enums).

export type StepOutcome = 'todo' | 'done' | 'skipped';

export interface SetupInfo {
  claimed: boolean;
  open: boolean;
  refusal: { code: string; message: string } | null;
  preset_admin: string | null;
  box_name: string;
  timezone: string | null;
  complete: boolean;
  steps: { network: StepOutcome; tls: StepOutcome };
  network: NetStatus | null;
  tls: { enabled: boolean; ca: boolean; https_url: string | null };
  urls: string[];
}

export type NetMode = 'starting' | 'ethernet' | 'access_point' | 'joining' | 'wifi' | 'lost';
export type Security = 'open' | 'wpa2' | 'wpa3' | 'wpa2_wpa3' | 'unsupported';

export interface WifiNetwork {
  ssid: string;
  signal_dbm: number;
  security: Security;
  frequency: number;
}

export interface NetError {
  code: string;
  message: string;
}

export interface NetStatus {
  mode: NetMode;
  wifi: boolean;
  ethernet: boolean;
  ssid: string | null;
  signal_dbm: number | null;
  ap_ssid: string;
  addresses: string[];
  hostname: string;
  country: string | null;
  last_error: NetError | null;
  saved_ssid?: string | null;
}

/** GET /api/network */
export type NetworkInfo = { managed: true; status: NetStatus } | { managed: false };
