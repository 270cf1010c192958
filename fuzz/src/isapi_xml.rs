//! ISAPI XML as a device sends it (and, for the simulator, as a client does): every document
//! type read under its root, the search result page item by item, and what the client reads
//! out of them: the device's time zone, the items' wall-clock times and playback URI times.

use isapi::time::{DeviceZone, parse_uri_time, parse_wall_clock};
use isapi::xml::{
    CmSearchDescription, CmSearchResult, DeviceInfo, DeviceStatus, DeviceTime, DownloadRequest,
    InputProxyChannelList, ResponseStatus, SearchMatchItem, SearchProfile, StreamingChannelList,
    TrackList, UserCheck, parse, parse_search_page, root_element,
};

pub(crate) fn run(data: &[u8]) {
    // The client reads bodies as text, replacing what is not UTF-8.
    let body = String::from_utf8_lossy(data);
    let body = body.as_ref();
    let _ = isapi::Container::sniff(data);
    let _ = root_element(body);
    let _ = parse::<DeviceInfo>("DeviceInfo", body).map(|info| info.is_recorder());
    if let Ok(time) = parse::<DeviceTime>("Time", body) {
        device_zone(&time);
    }
    let _ = parse::<StreamingChannelList>("StreamingChannelList", body);
    let _ = parse::<InputProxyChannelList>("InputProxyChannelList", body);
    let _ = parse::<TrackList>("TrackList", body);
    let _ = parse::<SearchProfile>("SearchProfile", body);
    let _ = parse::<SearchProfile>("CMSearchProfile", body);
    let _ = parse::<DeviceStatus>("DeviceStatus", body);
    let _ = parse::<CmSearchDescription>("CMSearchDescription", body);
    let _ = parse::<DownloadRequest>("downloadRequest", body);
    if let Ok(status) = parse::<ResponseStatus>("ResponseStatus", body) {
        let _ = (status.is_ok(), status.sub_status().len());
    }
    if let Ok(check) = parse::<UserCheck>("userCheck", body) {
        let _ = check.is_locked();
    }
    if let Ok(result) = parse::<CmSearchResult>("CMSearchResult", body) {
        let _ = result.status();
        result.items().iter().for_each(item_times);
    }
    if let Ok(page) = parse_search_page(body) {
        let _ = page.result.status();
        for item in page.items.iter().filter_map(|i| i.item.as_ref().ok()) {
            item_times(item);
        }
    }
}

/// The zone the client derives from a device's `Time`, and a wall-clock time through it.
fn device_zone(time: &DeviceTime) {
    if let Ok(zone) = DeviceZone::from_device_time(time)
        && let Ok(local) = parse_wall_clock(&time.local_time)
        && let Ok(instant) = zone.to_timestamp(local)
    {
        let _ = zone.to_local(instant);
    }
}

/// The times the client reads from one search item: its span and its playback URI's.
fn item_times(item: &SearchMatchItem) {
    let _ = parse_wall_clock(&item.time_span.start_time);
    let _ = parse_wall_clock(&item.time_span.end_time);
    let uri = &item.media_segment_descriptor.playback_uri;
    let query = uri.split_once('?').map_or("", |(_, q)| q);
    for (key, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
        if key.eq_ignore_ascii_case("starttime") || key.eq_ignore_ascii_case("endtime") {
            let _ = parse_uri_time(value);
        }
    }
}
